"""Emulators of the fax services mail2fax talks to, as real HTTP servers on loopback."""

from tests.emulator.http import Fault, FaultQueue, Hang, HTTPServer, Request, Reset, Response
from tests.emulator.multipart import ReceivedDocument
from tests.emulator.ringcentral import ReceivedFax, RecordedRequest, RingCentralEmulator

__all__ = [
    "Fault",
    "FaultQueue",
    "HTTPServer",
    "Hang",
    "ReceivedDocument",
    "ReceivedFax",
    "RecordedRequest",
    "Request",
    "Reset",
    "Response",
    "RingCentralEmulator",
]
