"""Soft matches of texts to items by their embeddings."""
import torch

from kgrec.gnn.text_match import NEIGHBOURS, TEMPERATURE, nearest, weighted_columns


def test_nearest_items_by_cosine_with_softmax_weights():
    items = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    rows, weights = nearest(torch.tensor([[3.0, 0.1], [0.0, -1.0]]), items)
    assert rows.shape == (2, 3)  # fewer items than NEIGHBOURS: all of them
    assert rows[0].tolist() == [0, 2, 1]
    cosine = torch.nn.functional.normalize(items, dim=1) @ torch.nn.functional.normalize(torch.tensor([3.0, 0.1]), dim=0)
    assert torch.allclose(weights[0], torch.softmax(cosine[rows[0]] / TEMPERATURE, 0))
    assert torch.allclose(weights.sum(1), torch.ones(2))


def test_nearest_keeps_the_top_neighbours_across_chunks():
    generator = torch.Generator().manual_seed(0)
    items = torch.randn(50, 8, generator=generator)
    texts = torch.randn(2500, 8, generator=generator)  # more than one chunk
    rows, _ = nearest(texts, items)
    assert rows.shape == (2500, NEIGHBOURS)
    expected = (torch.nn.functional.normalize(texts, dim=1) @ torch.nn.functional.normalize(items, dim=1).T).topk(NEIGHBOURS)
    assert torch.equal(rows, expected.indices)


def test_weighted_columns_is_the_weighted_sum_of_the_named_columns():
    scores = torch.arange(12.0).reshape(3, 4)
    rows = torch.tensor([[0, 3], [2, 2]])
    weights = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    out = weighted_columns(scores, rows, weights)
    assert torch.allclose(out, torch.stack([0.25 * scores[:, 0] + 0.75 * scores[:, 3], scores[:, 2]], 1))
