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
