"""The ranking losses and the layer-0 regulariser on small hand-made embeddings."""
import math

import torch
import torch.nn.functional as F

from kgrec.gnn.losses import GatheredDot, l2_penalty, ranking_loss, shared_hits, squared_norms


def test_l2_penalty_from_gathered_norms_equals_the_gathered_rows() -> None:
    table = torch.randn(10, 4, requires_grad=True)
    users, items = torch.randn(6, 4), table[torch.tensor([0, 1, 2, 3, 4, 5])]
    negatives = torch.randint(10, (6, 3))
    penalty = l2_penalty(users, items, squared_norms(table)[negatives], weight_decay=0.1)
    rows = table[negatives]
    expected = 0.05 * (users.pow(2).sum(-1) + items.pow(2).sum(-1) + rows.pow(2).sum(-1).mean(-1)).mean()
    assert torch.allclose(penalty, expected)
    grad = torch.autograd.grad(penalty, table, retain_graph=True)[0]
    assert torch.allclose(grad, torch.autograd.grad(expected, table)[0])
    assert float(l2_penalty(users, items, squared_norms(rows), 0.0)) == 0.0


def test_softmax_loss_is_cross_entropy_over_the_positive_and_its_negatives() -> None:
    user = torch.tensor([[1.0, 0.0]])
    positive = torch.tensor([[2.0, 0.0]])
    items = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    negatives = torch.tensor([[0, 1]])
    loss = ranking_loss(user, positive, items, negatives, "softmax", temperature=1.0)
    assert math.isclose(float(loss), -math.log(math.exp(2) / (math.exp(2) + math.exp(0) + math.exp(1))), rel_tol=1e-6)
    bpr = ranking_loss(user, positive, items, negatives, "bpr")
    assert math.isclose(float(bpr), float(-(F.logsigmoid(torch.tensor([2.0, 1.0]))).mean()), rel_tol=1e-6)
    shared = ranking_loss(user, positive, items, torch.tensor([0, 1]), "softmax")
    assert torch.isclose(shared, loss)


def test_gathered_dot_matches_the_gathered_einsum_and_its_gradients() -> None:
    torch.manual_seed(0)
    user = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    table = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    index = torch.randint(7, (5, 4))
    expected = torch.einsum("bd,bkd->bk", user, table[index])
    assert torch.allclose(GatheredDot.apply(user, table, index), expected)
    assert torch.autograd.gradcheck(lambda u, t: GatheredDot.apply(u, t, index), (user, table))


def test_a_shared_negative_equal_to_the_positive_is_left_out() -> None:
    items, shared = torch.tensor([3, 5]), torch.tensor([5, 7])
    hits = shared_hits(items, shared)
    assert hits is not None and hits.tolist() == [[False, False], [True, False]]
    assert shared_hits(items, torch.tensor([[5, 7], [1, 2]])) is None
