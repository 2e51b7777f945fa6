import pytest
import torch

from distill import RNNStudent, RNNStudentConfig, save_student


@pytest.fixture
def student_dir(encoder, tmp_path):
    """A saved seed-0 tiny BiLSTM student over the real tokenizer."""
    torch.manual_seed(0)   # random weights put some logits near a tie; a fixed draw keeps the int8 parity checks deterministic
    model = RNNStudent(RNNStudentConfig(vocab_size=encoder.settings.vocab_size, embed_dim=16, hidden=8, head_hidden=8)).eval()
    return save_student(model, tmp_path / "student", encoder, ("negative", "positive"))
