import pytest
import torch

from distill import RNNStudent, RNNStudentConfig
from distill.students.rnn import reverse_within_length
from edgecore import ConfigError


def test_reverse_within_length_is_an_involution():
    rev = reverse_within_length(torch.tensor([3, 5, 1]), 5)
    assert rev.tolist() == [[2, 1, 0, 3, 4], [4, 3, 2, 1, 0], [0, 1, 2, 3, 4]]
    x = torch.arange(15).view(3, 5)
    assert torch.equal(x.gather(1, rev).gather(1, rev), x)


def test_encode_np_gives_the_runner_feeds(encoder):
    texts = ["a fine film", "an utterly dull mess"]
    feeds = encoder.encode_np(texts, pad_to=12)
    assert set(feeds) == {"input_ids", "attention_mask"} and all(type(v).__module__ == "numpy" for v in feeds.values())
    assert feeds["input_ids"].shape == (2, 12) and feeds["input_ids"].dtype.name == "int64"
    assert (feeds["input_ids"] == encoder.encode(texts, pad_to=12)["input_ids"].numpy()).all()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["max", "mean", "last", "attention"])
def test_padding_never_changes_logits(encoder, cell, pooling):
    torch.manual_seed(0)
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, cell=cell, pooling=pooling, embed_dim=16,
                                        hidden=8, head_hidden=8, layers=2, projection=12)).eval()
    texts = ["a fine film", "an utterly dull, lifeless and overlong mess of a movie"]
    alone = torch.cat([model(**encoder.encode([t])) for t in texts])
    padded = model(**encoder.encode(texts, pad_to=64))
    assert torch.allclose(alone, padded, atol=1e-6)


def test_student_overfits_32_sentences(encoder, sentences):
    torch.manual_seed(0)
    texts = sentences[:32]
    labels = torch.tensor([i % 2 for i in range(32)])  # arbitrary labels: only memorisation can fit them
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=32, hidden=32, head_hidden=32,
                                        embed_dropout=0.0, dropout=0.0))
    feeds = encoder.encode(texts)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(**feeds), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert (model(**feeds).argmax(1) == labels).float().mean().item() == 1.0


def test_init_and_freeze_embeddings():
    weight = torch.randn(50, 16)
    model = RNNStudent(RNNStudentConfig(vocab_size=50, embed_dim=16, hidden=4, freeze_embeddings=True))
    model.init_embeddings(weight)
    assert torch.equal(model.embed.weight, weight) and not model.embed.weight.requires_grad
    with pytest.raises(ConfigError, match="shape"):
        model.init_embeddings(torch.randn(50, 8))
    assert model.num_parameters() - model.num_parameters(False) == 50 * 16


@pytest.mark.parametrize("kwargs, message", [
    ({"cell": "rnn"}, "choose one of lstm, gru"), ({"pooling": "sum"}, "choose one of"), ({"layers": 5}, "1..4"),
    ({"dropout": 1.0}, "dropout"), ({"num_labels": 1}, "num_labels"),
])
def test_config_errors_say_what_works(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RNNStudentConfig(vocab_size=10, **kwargs)
