"""`make bench`: how close the service runs to the in-process pipeline, and to its peers."""
