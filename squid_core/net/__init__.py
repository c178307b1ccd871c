"""DICOM networking: DIMSE (pynetdicom) and DICOMweb (dicomweb-client), Qt-free.

* :mod:`.nodes` - remote nodes as data (AE title, host, port, or a DICOMweb URL);
* :mod:`.instance_store` - filing untrusted instances atomically, after the size guards;
* :mod:`.storage_scp` - the Storage SCP (C-ECHO, C-STORE) that only accepts known AE titles;
* :mod:`.dimse_client` - C-ECHO, C-FIND, C-MOVE, C-GET and C-STORE as an SCU, with retries;
* :mod:`.tls` - DICOM TLS: SSL contexts from PEM files, and why a handshake failed;
* :mod:`.dicomweb` - QIDO-RS, WADO-RS and STOW-RS.

Every failure a user can meet (a reject, a timeout, a peer that disappears) is raised
as :class:`NetworkError` with a sentence that says what happened.
"""

from squid_core.net.errors import NetworkError

__all__ = ["NetworkError"]
