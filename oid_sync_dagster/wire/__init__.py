"""CDF's wire formats that both the engine and the local CDF speak; a leaf: it imports numpy and protobuf only."""
