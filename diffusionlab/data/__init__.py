"""Data made here, never downloaded: ``toy2d`` (2-D distributions) and ``shapes``
(the captioned shapes world)."""
