"""Tests of netsim.capture: the frames of traces, checked byte by byte and by tshark."""
