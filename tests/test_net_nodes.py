"""Remote nodes as data: AET@HOST:PORT, DICOMweb URLs, a JSON file of nodes."""

from __future__ import annotations

import json

import pytest

from squid_core.net.nodes import DicomWebNode, DimseNode, load_nodes, parse_dimse_node


def test_parse_dimse_node_and_its_errors():
    node = parse_dimse_node("PACS@10.0.0.5:104")
    assert (node.ae_title, node.host, node.port, str(node)) == ("PACS", "10.0.0.5", 104,
                                                                "PACS@10.0.0.5:104")
    assert parse_dimse_node("A@[::1]:11112").host == "::1"
    for bad in ("PACS:104", "PACS@host", "@host:1", "PACS@host:x"):
        with pytest.raises(ValueError, match="AET@HOST:PORT|AE title"):
            parse_dimse_node(bad)
    with pytest.raises(ValueError, match="not a valid AE title"):
        DimseNode("MUCH_TOO_LONG_AE_TITLE", "h", 104)
    with pytest.raises(ValueError, match="not a valid AE title"):
        DimseNode("BACK\\SLASH", "h", 104)
    with pytest.raises(ValueError, match="not a valid port"):
        DimseNode("PACS", "h", 70000)
    with pytest.raises(ValueError, match="not a DICOMweb URL"):
        DicomWebNode("ftp://pacs/dicom-web")
    assert DicomWebNode("http://pacs:8042/dicom-web/").url == "http://pacs:8042/dicom-web"


def test_load_nodes_from_json(tmp_path):
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps({"nodes": [
        {"name": "pacs", "ae_title": "PACS", "host": "10.0.0.5", "port": 104},
        {"name": "web", "url": "https://pacs.example/dicom-web"}]}))
    nodes = load_nodes(path)
    assert nodes["pacs"] == DimseNode("PACS", "10.0.0.5", 104, "pacs")
    assert nodes["web"] == DicomWebNode("https://pacs.example/dicom-web", "web")
    path.write_text(json.dumps({"nodes": [{"name": "broken", "ae_title": "X", "host": "h"}]}))
    with pytest.raises(ValueError, match="node 'broken'"):
        load_nodes(path)


def test_tls_and_retrieve_settings_of_a_node(tmp_path):
    from squid_core.net.nodes import node_entry, parse_nodes

    doc = {"nodes": [{"name": "secure", "ae_title": "PACS", "host": "pacs", "port": 2762,
                      "tls": True, "tls_ca": "/ca.pem", "tls_cert": "/me.pem",
                      "tls_key": "/me.key", "retrieve": "get"},
                     {"name": "plain", "ae_title": "PACS", "host": "pacs", "port": 104}]}
    nodes = parse_nodes(doc)
    secure = nodes["secure"]
    assert (secure.tls, secure.tls_ca, secure.tls_cert, secure.retrieve) == (
        True, "/ca.pem", "/me.pem", "get")
    assert (nodes["plain"].tls, nodes["plain"].retrieve) == (False, "move")
    assert [node_entry(n) for n in nodes.values()] == doc["nodes"]  # settings round trip
    for entry, message in (
            ({"tls": True}, "tls needs tls_ca"),
            ({"tls": "yes", "tls_ca": "/ca.pem"}, "tls must be true or false"),
            ({"tls": True, "tls_ca": "/ca.pem", "tls_cert": "/me.pem"}, "give both or neither"),
            ({"tls_ca": "/ca.pem"}, "tls is off"),
            ({"retrieve": "fetch"}, "retrieve must be one of move, get")):
        bad = {"name": "bad", "ae_title": "PACS", "host": "pacs", "port": 104, **entry}
        with pytest.raises(ValueError, match=f"node 'bad': .*{message}"):
            parse_nodes({"nodes": [bad]})


def test_node_from_fields_names_the_field_at_fault(pki, tmp_path):
    """What the node editor checks on save: each error names its field; TLS files are
    read now (a missing file, a certificate without its key, a key that is not one)."""
    from squid_core.net.nodes import NodeFieldError, node_from_fields

    def field_of(**kw) -> tuple[str, str]:
        with pytest.raises(NodeFieldError) as err:
            node_from_fields(kw.pop("name", "n"), **kw)
        return err.value.field, str(err.value)

    ok = dict(ae_title="PACS", host="127.0.0.1", port=104)
    assert field_of(name="pacs", taken=("pacs",), **ok)[0] == "name"
    assert field_of(ae_title="", host="h", port=1)[0] == "ae_title"
    assert field_of(ae_title="PACS", host="two words", port=1)[0] == "host"
    assert field_of(ae_title="PACS", host="h", port=0)[0] == "port"
    assert field_of(web=True, url="ftp://x") == (
        "url", "not a DICOMweb URL (http:// or https://): 'ftp://x'")
    assert field_of(tls=True, **ok)[0] == "tls_ca"
    missing = tmp_path / "missing.pem"
    assert field_of(tls=True, tls_ca=str(missing), **ok) == (
        "tls_ca", f"TLS CA certificate file not found: {missing}")
    assert field_of(tls=True, tls_ca=str(pki.ca), tls_cert=str(pki.client_cert), **ok)[0] \
        == "tls_key"
    field, text = field_of(tls=True, tls_ca=str(pki.ca), tls_cert=str(pki.client_cert),
                           tls_key=str(pki.server_key), **ok)  # not this certificate's key
    assert field == "tls_cert" and "cannot use the TLS certificate" in text
    assert field_of(tls=True, tls_ca=str(pki.client_key), **ok)[0] == "tls_ca"  # not a CA

    node = node_from_fields("", tls=True, tls_ca=str(pki.ca), tls_cert=str(pki.client_cert),
                            tls_key=str(pki.client_key), retrieve="get", **ok)
    assert (node.name, node.tls, node.tls_key, node.retrieve) == (
        "PACS@127.0.0.1:104", True, str(pki.client_key), "get")
    # TLS files left in the form with TLS off are not kept.
    assert not node_from_fields("n", tls_ca=str(missing), **ok).tls_ca
    web = node_from_fields("web", web=True, url="http://pacs:8042/dicom-web/")
    assert web.url == "http://pacs:8042/dicom-web"
