import math

import torch

from distill import losses


def test_logit_mse_by_hand():
    s, t = torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    # row 0: (1 + 4) / 2 = 2.5; row 1: (1 + 1) / 2 = 1
    assert math.isclose(losses.logit_mse(s, t).item(), 1.75, rel_tol=1e-6)
    assert math.isclose(losses.logit_mse(s, t, mask=torch.tensor([1, 0])).item(), 2.5, rel_tol=1e-6)


def test_soft_cross_entropy_by_hand_with_t_squared():
    s, t = torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]])
    for temp in (1.0, 2.0, 4.0):
        p = torch.softmax(t / temp, -1)
        kl = (p * (p.log() - math.log(0.5))).sum().item()
        assert math.isclose(losses.soft_cross_entropy(s, t, temperature=temp).item(), kl * temp**2, rel_tol=1e-5)
    assert losses.soft_cross_entropy(t, t, temperature=2.0).item() < 1e-7


def test_hard_cross_entropy_skips_unlabelled_rows():
    s = torch.tensor([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]])
    ce = losses.hard_cross_entropy(s, labels=torch.tensor([0, 1, -1]))
    assert math.isclose(ce.item(), -math.log(math.exp(2) / (math.exp(2) + 1)), rel_tol=1e-6)


def test_gradients_point_the_student_toward_the_target():
    teacher = torch.tensor([[3.0, -1.0]])
    for loss in (losses.logit_mse, lambda s, t: losses.soft_cross_entropy(s, t, temperature=2.0),
                 lambda s, t: losses.hard_cross_entropy(s, labels=torch.tensor([0]))):
        s = torch.zeros(1, 2, requires_grad=True)
        loss(s, teacher).backward()
        # descending the gradient raises the logit of class 0 and lowers class 1
        assert s.grad[0, 0] < 0 < s.grad[0, 1]
