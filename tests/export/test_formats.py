"""export's format and precision lists are edgecore.formats' table, not copies of it."""
from edgecore import formats


def test_export_lists_are_the_one_table():
    import export
    from export import artifact, coreml, quantize, tflite

    assert export.FORMATS == formats.EXPORT_FORMATS and artifact.FORMATS == formats.FORMATS
    assert quantize.PRECISIONS is formats.PRECISIONS["onnx"] and export.PRECISIONS is quantize.PRECISIONS
    assert tflite.PRECISIONS is formats.PRECISIONS["tflite"]
    assert coreml.PRECISIONS is formats.PRECISIONS["coreml"]
