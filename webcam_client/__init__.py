"""Live video client of the segmentation service: `python -m webcam_client --help`.

Captures a camera, video file or stream, sends frames as JPEG over one
SegmentStream with a bounded number in flight, and shows (or records) the
picture with the latest mask on it.
"""
