"""The validation criterion the content tower is chosen by: items ranked among their fold."""
from types import SimpleNamespace

import numpy as np
import torch

from kgrec.gnn.cold_start import among_fold_ndcg, arriving_entities, neighbour_scores
from kgrec.gnn.graph_tensors import NodeSpace


def test_among_fold_ranks_each_pair_among_its_own_fold_only():
    users = np.array([0, 1])
    folds = torch.tensor([0, 0, 1, 1, -1])  # item 4 is not warm: in no fold
    train = np.array([[0], [1]])  # user 0's training item is masked
    valid = np.array([[0, 1], [0, 2]])
    scores = torch.tensor([[1.0, 5.0, 9.0, 9.0, 9.0],   # item 0 competes with item 1 only
                           [0.0, 0.0, 1.0, 3.0, 9.0]])  # item 2 is second in fold 1; item 4 never competes
    # user 0: fold 0 holds items 0, 1; item 1 is its training item, masked -> item 0 first: NDCG 1
    # user 1: fold 1 holds items 2, 3; item 3 scores higher -> item 2 second: NDCG 1/log2(3)
    expected = (1.0 + 1.0 / np.log2(3)) / 2
    assert np.isclose(among_fold_ndcg(scores, users, folds, train, valid), expected, atol=1e-6)
    # a scorer that puts each validation item first in its fold gets 1
    perfect = torch.zeros(2, 5)
    perfect[0, 0] = perfect[1, 2] = 1.0
    assert np.isclose(among_fold_ndcg(perfect, users, folds, train, valid), 1.0)


def test_neighbour_scores_draw_each_items_neighbours_from_the_other_folds():
    """An item playing new is scored by its text neighbours' item-item scores, never by an
    item of its own fold (which plays new with it) nor by an item outside the folds."""
    text = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0], [1.0, 0.02]])
    folds = torch.tensor([0, 1, 0, 1, -1])
    item_item = torch.tensor([[10.0, 20.0, 30.0, 40.0, 50.0]])
    out = neighbour_scores(item_item, text, folds)
    assert out[0, 4] == 0  # not in a fold: not scored
    # item 0 (fold 0) may only draw on items 1 and 3 (fold 1), not on 4 nor 2: item 1 is nearest
    assert torch.isclose(out[0, 0], torch.tensor(20.0), atol=0.5)
    assert torch.isclose(out[0, 2], torch.tensor(40.0), atol=0.5)  # item 2 ~ item 3 in text
    assert torch.isclose(out[0, 1], torch.tensor(10.0), atol=0.5) and torch.isclose(out[0, 3], torch.tensor(30.0), atol=0.5)


def test_the_entities_only_arriving_items_have_arrive_with_them():
    """1 user, 3 items, 4 entities (both directions stored, as in the propagation graph):
    entity 0 belongs to item 0 alone, entity 1 to items 0 and 1, entity 2 to item 2, entity 3
    to no item (a user attribute)."""
    space = NodeSpace(n_users=1, n_items=3, n_entities=4)
    item, entity = space.item_offset, space.entity_offset
    links = [(entity + 0, item + 0), (entity + 1, item + 0), (entity + 1, item + 1), (entity + 2, item + 2),
             (entity + 3, 0), (0, item + 0)]
    edges = torch.tensor(links + [(b, a) for a, b in links]).T
    graph = SimpleNamespace(space=space, edge_index=edges)
    assert arriving_entities(graph, torch.tensor([True, False, False])).tolist() == [True, False, False, False]
    assert arriving_entities(graph, torch.tensor([True, True, False])).tolist() == [True, True, False, False]
    assert arriving_entities(graph, torch.tensor([False, False, False])).tolist() == [False] * 4
