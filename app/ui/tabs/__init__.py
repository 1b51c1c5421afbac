"""One builder per tab of the app (:func:`kgrec.app.ui.layout.build_app` puts them together):
each lays out its tab's components and wires their events to :mod:`kgrec.app.ui.actions`."""
