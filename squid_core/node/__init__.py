"""The reading-room node: receive over DICOM, analyse on arrival, record, send results back.

See :class:`~squid_core.node.reading_room.ReadingRoomNode` and ``squid node``.
"""

from squid_core.node.reading_room import NodeConfig, ReadingRoomNode

__all__ = ["NodeConfig", "ReadingRoomNode"]
