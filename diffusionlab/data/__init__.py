"""Data made here, never downloaded: ``toy2d`` (2-D distributions), ``shapes`` (the
captioned shapes world), ``freeform`` (free-form outlines for ControlNet), ``glyphs``
(procedural capital letters and words) and ``scenes`` (multi-object scenes of shapes and
glyphs on canvases of several sizes)."""
