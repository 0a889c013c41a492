"""The human-study kit: blinded rating sheets, the rating web app, and the import of returns.

A re-run of the study for a new model (docs/design.md, "The human study"): :mod:`.sheets` writes one
sheet per study batch and source with a separate key, :mod:`.app` serves the study's rater protocol
(Flask, the ``study`` extra) over the SQLite store of :mod:`.store`, and :mod:`.returns` joins what
raters return back through the key into the rating table. Importing this package imports no Flask.
"""
