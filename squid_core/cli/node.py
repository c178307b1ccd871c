"""``squid node``: a DICOM node that analyses every image it receives and sends results back."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "node",
        help="run a DICOM node that analyses what it receives",
        description=(
            "Listen as a DICOM Storage SCP (C-ECHO, C-STORE), analyse every received image "
            "in a worker process, append one row per instance to DIR/results.csv (SOP "
            "Instance UID, study, score, flag, status, reason) and, when asked, send the "
            "Secondary Capture of the heatmap and the SR with the score back. State lives "
            "in DIR: a node that is stopped or killed analyses after its restart what it "
            "had received but not analysed, each instance once. Ctrl-C stops it."
        ),
    )
    p.add_argument("--ae-title", required=True, help="this node's AE title")
    p.add_argument("--port", type=int, required=True, help="port to listen on (0: any free one)")
    p.add_argument("--store", type=Path, required=True, metavar="DIR",
                   help="folder for received instances, results.csv and the outbox")
    p.add_argument("--model", type=Path, default=None,
                   help="model file (default: the bundled model)")
    allow = p.add_mutually_exclusive_group(required=True)
    allow.add_argument("--allow-ae", action="append", metavar="AET",
                       help="accept associations from this calling AE title (repeatable)")
    allow.add_argument("--allow-any-ae", action="store_true",
                       help="accept associations from any calling AE title")
    send = p.add_mutually_exclusive_group()
    send.add_argument("--send-to", metavar="AET@HOST:PORT",
                      help="send the SC and SR of each analysed image here (C-STORE)")
    send.add_argument("--send-to-dicomweb", metavar="URL",
                      help="send the SC and SR of each analysed image here (STOW-RS)")
    tls = p.add_argument_group(
        "DICOM TLS", "listen with TLS when --tls-cert and --tls-key are given (with --tls-ca, "
        "callers must present a certificate signed by that CA); --send-to-tls sends to "
        "--send-to with TLS, trusting --tls-ca and presenting --tls-cert")
    tls.add_argument("--tls-cert", metavar="PEM", help="this node's certificate")
    tls.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    tls.add_argument("--tls-ca", metavar="PEM", help="the CA certificate(s) trusted for peers")
    tls.add_argument("--send-to-tls", action="store_true",
                     help="use DICOM TLS for --send-to")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda | mps (default: cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--workers", type=int, default=1, help="analysis worker processes (default 1)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="network timeout in seconds (default 30)")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    from squid_core.library.paths import bundled_model_path
    from squid_core.net.nodes import DicomWebNode, DimseNode, parse_dimse_node
    from squid_core.net.tls import TlsFiles
    from squid_core.node import NodeConfig

    model = args.model or bundled_model_path()
    if not Path(model).is_file():
        raise ValueError(f"no model file at {model}")
    files = TlsFiles(args.tls_ca or "", args.tls_cert or "", args.tls_key or "")
    send_to = parse_dimse_node(args.send_to) if args.send_to else None
    if args.send_to_tls:
        if send_to is None:
            raise ValueError("--send-to-tls needs --send-to")
        if not files.ca:
            raise ValueError("--send-to-tls needs --tls-ca: the CA certificate that signed "
                             "the peer's certificate")
        send_to = DimseNode(send_to.ae_title, send_to.host, send_to.port, tls=True,
                            tls_ca=files.ca, tls_cert=files.cert, tls_key=files.key)
    elif files.ca and not files.cert:
        raise ValueError("--tls-ca alone does nothing: add --tls-cert and --tls-key to listen "
                         "with TLS, or --send-to-tls to send with it")
    return NodeConfig(
        ae_title=args.ae_title, port=args.port, store=args.store, model=Path(model),
        allowed_aets=None if args.allow_any_ae else list(args.allow_ae),
        send_to=send_to, tls=files if files.cert else None,
        send_to_dicomweb=DicomWebNode(args.send_to_dicomweb) if args.send_to_dicomweb else None,
        host=args.host, device=args.device, threads=args.threads, workers=args.workers,
        timeout=args.timeout)


def run(args: argparse.Namespace) -> int:
    from squid_core.node import ReadingRoomNode
    from squid_core.service import ServiceError

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)  # its INFO dumps data sets
    try:
        node = ReadingRoomNode(_config(args))
    except ValueError as exc:
        print(f"squid node: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            node.start()
        except (ServiceError, OSError) as exc:
            print(f"squid node: error: {exc}", file=sys.stderr)
            node.stop()
            return 1
        tls = " with DICOM TLS" if node.scp.ssl_context is not None else ""
        print(f"squid node: {args.ae_title} listening on port {node.scp.port}{tls}; Ctrl-C "
              "stops it", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
        node.stop()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
