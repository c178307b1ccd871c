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
