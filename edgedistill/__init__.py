"""The app layer: the `edgedistill` CLI and the demo pipeline. No ML logic lives here."""
