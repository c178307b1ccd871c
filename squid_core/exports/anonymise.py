"""Strip identifying data from a DICOM dataset before it leaves the workstation.

A subset of the DICOM PS3.15 Basic Application Level Confidentiality Profile that
covers what a chest radiograph header normally holds: names, IDs, birth date, address,
institution, physicians, operators, accession and study IDs, study and series dates
and times, device identifiers, free-text comments, private tags. Type 2 attributes
(which an image object must carry, possibly empty) are emptied; the rest are removed.
UIDs are replaced by new ones derived from the old with a per-process secret, so the
SC and SR exported from one study in one session still belong together, but the
originals cannot be recovered by hashing known UIDs.
"""

from __future__ import annotations

import secrets
from copy import deepcopy
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

#: Attributes emptied (Type 2 in the image and SR modules: must stay, may be empty).
EMPTIED = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
    "ReferringPhysicianName", "StudyID", "StudyDate", "StudyTime",
)

#: Attributes removed outright.
REMOVED = (
    "PatientBirthTime", "PatientAge", "OtherPatientIDs", "OtherPatientIDsSequence",
    "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName", "PatientAddress",
    "PatientTelephoneNumbers", "PatientComments", "AdditionalPatientHistory",
    "MedicalRecordLocator", "EthnicGroup", "Occupation", "MilitaryRank", "BranchOfService",
    "IssuerOfPatientID", "PatientInsurancePlanCodeSequence", "ReferencedPatientSequence",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "PhysiciansOfRecord", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
    "OperatorsName", "RequestingPhysician", "RequestAttributesSequence",
    "StationName", "DeviceSerialNumber", "PlateID", "DetectorID", "CassetteID",
    "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime", "ContentDate",
    "ContentTime", "AcquisitionDateTime", "InstanceCreationDate", "InstanceCreationTime",
    "ImageComments", "StudyComments", "RequestedProcedureDescription",
    "PerformedProcedureStepID", "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime", "ScheduledProcedureStepID", "ReferencedStudySequence",
    "ReferencedPerformedProcedureStepSequence", "ProtocolName",
)

#: Every attribute the anonymiser touches (what tests check is gone or empty).
IDENTIFYING_KEYWORDS = EMPTIED + REMOVED

#: UIDs replaced consistently.
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                "FrameOfReferenceUID", "MediaStorageSOPInstanceUID")

_SECRET = secrets.token_hex(16)


def replace_uid(uid: str) -> str:
    """A new UID derived from ``uid`` and this process's secret (same in, same out)."""
    return str(generate_uid(entropy_srcs=[_SECRET, str(uid)]))


def remove_identity(ds: Dataset) -> None:
    """Empty the EMPTIED attributes and delete the REMOVED ones of ``ds`` (top level only)."""
    for keyword in EMPTIED:
        if keyword in ds:
            ds.data_element(keyword).value = ""
    for keyword in REMOVED:
        if keyword in ds:
            delattr(ds, keyword)


def _scrub(ds: Dataset) -> None:
    remove_identity(ds)
    for keyword in UID_KEYWORDS:
        if keyword in ds and ds.data_element(keyword).value:
            setattr(ds, keyword, replace_uid(ds.data_element(keyword).value))
    ds.remove_private_tags()
    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value:
                _scrub(item)


def anonymise_dataset(ds: Any) -> Dataset:
    """A de-identified deep copy of ``ds`` (the input is not changed).

    Marks the result with Patient Identity Removed = YES and a De-identification
    Method, as PS3.15 asks.
    """
    out = deepcopy(ds)
    _scrub(out)
    meta = getattr(out, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = replace_uid(meta.MediaStorageSOPInstanceUID)
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = "SQUID Viewer: PS3.15 basic profile subset"
    return out
