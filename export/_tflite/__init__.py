"""Private helpers of export.tflite (litert-torch lowering, flatbuffer edits)."""
