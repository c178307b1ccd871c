"""The PACS pane's Qt-free query model: fields -> matching keys, answers -> rows."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from squid_core.net.nodes import DicomWebNode, DimseNode, node_entry, parse_nodes
from squid_core.net.remote_query import StudyMatch, StudyQuery


def test_query_fields_become_matching_keys():
    assert StudyQuery().matching_keys() == {}
    keys = StudyQuery(" doe ", "P1", "20240101", "20240131", "cr").matching_keys()
    assert keys == {"PatientName": "*doe*", "PatientID": "P1",
                    "StudyDate": "20240101-20240131", "ModalitiesInStudy": "CR"}
    assert StudyQuery(patient_name="DOE^J*").matching_keys() == {"PatientName": "DOE^J*"}
    assert StudyQuery(date_from="20240101").matching_keys() == {"StudyDate": "20240101-"}
    assert StudyQuery(date_to="20240101").matching_keys() == {"StudyDate": "-20240101"}
    same = StudyQuery(date_from="20240101", date_to="20240101").matching_keys()
    assert same == {"StudyDate": "20240101"}


@pytest.mark.parametrize("fields, message", [
    ({"date_from": "2024-01-01"}, "YYYYMMDD"),
    ({"date_to": "yesterday"}, "YYYYMMDD"),
    ({"date_from": "20240201", "date_to": "20240101"}, "ends before it starts"),
])
def test_bad_dates_say_why(fields, message):
    with pytest.raises(ValueError, match=message):
        StudyQuery(**fields)


def test_answers_become_rows():
    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3"
    ds.PatientName = "DOE^JANE"
    ds.StudyDate = "20240105"
    ds.ModalitiesInStudy = ["CR", "SR"]
    ds.NumberOfStudyRelatedInstances = 3
    row = StudyMatch.from_dataset(ds)
    assert (row.study_uid, row.patient_name, row.modalities, row.instances) == (
        "1.2.3", "DOE^JANE", "CR/SR", "3")
    doc = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]},
           "00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JANE"}]},
           "00080061": {"vr": "CS", "Value": ["CR"]}, "00100020": {"vr": "LO"}}
    row = StudyMatch.from_json(doc)
    assert (row.study_uid, row.patient_name, row.modalities, row.patient_id) == (
        "1.2.3", "DOE^JANE", "CR", "")


def test_node_entries_round_trip():
    nodes = [DimseNode("PACS", "10.0.0.5", 104, "pacs"), DicomWebNode("https://x/dicom-web", "w")]
    back = parse_nodes({"nodes": [node_entry(n) for n in nodes]})
    assert list(back.values()) == nodes
    with pytest.raises(ValueError, match="settings: node 'bad'"):
        parse_nodes({"nodes": [{"name": "bad", "ae_title": "X", "host": "h", "port": 0}]},
                    "settings")
