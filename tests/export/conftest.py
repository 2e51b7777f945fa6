import pytest
import torch

OUTLIER_VOCAB = 120


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """fp32 ONNX of a tiny random BERT (2 layers, width 32) with one LayerNorm gamma channel boosted to 25,
    so its activations have the outlier channel SmoothQuant and MatMulNBits are for."""
    from transformers import BertConfig, BertForSequenceClassification

    from export import to_onnx

    torch.manual_seed(0)
    config = BertConfig(vocab_size=OUTLIER_VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=64, num_labels=2)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        model.bert.encoder.layer[0].attention.output.LayerNorm.weight[5] = 25.0
    sample = {"input_ids": torch.tensor([[2, 7, 9, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.int64)}
    return to_onnx(model, sample, tmp_path_factory.mktemp("outlier-bert") / "tiny.onnx")
