import numpy as np
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


class Feeds:
    """numpy feeds for the `tiny` BERT: right-padded rows of token ids, or random single sentences."""

    @staticmethod
    def padded(rows: list[list[int]]) -> dict[str, np.ndarray]:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, :len(r)], mask[i, :len(r)] = r, 1
        return {"input_ids": ids, "attention_mask": mask}

    def random(self, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """`n` one-sentence feeds of 3-11 random ids from the tiny vocabulary."""
        rng = np.random.default_rng(seed)
        return [self.padded([rng.integers(4, OUTLIER_VOCAB, size=rng.integers(3, 12)).tolist()]) for _ in range(n)]


@pytest.fixture(scope="session")
def feeds() -> Feeds:
    return Feeds()
