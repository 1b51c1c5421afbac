"""The validation criterion the content tower is chosen by: items ranked among their fold."""
import numpy as np
import torch

from kgrec.gnn.cold_start import among_fold_ndcg


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
