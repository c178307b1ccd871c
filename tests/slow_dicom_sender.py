"""A peer that sends one DICOM file slowly (test helper, run as a subprocess).

Usage: python slow_dicom_sender.py PORT FILE CALLING_AET CALLED_AET. It prints "sending"
once associated, then sends the file with a pause after every PDU, so that a test can
kill it mid-transfer.
"""

import sys
import time

from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.transport import AssociationSocket

port, path, calling, called = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
send = AssociationSocket.send


def slow_send(self, data):
    send(self, data)
    time.sleep(0.005)


AssociationSocket.send = slow_send
ds = dcmread(path)
ae = AE(ae_title=calling)
ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
assoc = ae.associate("127.0.0.1", port, ae_title=called)
print("sending" if assoc.is_established else "refused", flush=True)
assoc.send_c_store(ds)
