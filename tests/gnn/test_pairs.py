"""Grouping (user, item) pairs by user and counting them per item."""
import numpy as np

from kgrec.gnn.pairs import group_by_user, popularity, sample_users


def test_group_by_user_keeps_pair_order_and_leaves_out_users_without_pairs() -> None:
    pairs = np.array([[2, 0, 2, 0, 3], [5, 1, 4, 7, 9]])
    grouped = group_by_user(pairs, np.array([0, 1, 2]))
    assert set(grouped) == {0, 2}
    assert grouped[0].tolist() == [1, 7] and grouped[2].tolist() == [5, 4]
    assert group_by_user(None, np.array([0])) == {} and group_by_user(np.empty((2, 0)), np.array([0])) == {}


def test_popularity_counts_pairs_per_item() -> None:
    counts = popularity(np.array([[0, 1, 2, 0], [2, 2, 0, 1]]), 4)
    assert counts.dtype == np.float32 and counts.tolist() == [1, 1, 2, 0]


def test_sample_users_keeps_all_pairs_of_a_seeded_subset():
    pairs = np.array([[u for u in range(10) for _ in range(3)], list(range(30))])
    assert sample_users(pairs, 10, seed=0) is pairs
    kept = sample_users(pairs, 4, seed=0)
    users = np.unique(kept[0])
    assert users.size == 4 and kept.shape[1] == 12, "every pair of each kept user"
    assert np.array_equal(kept, sample_users(pairs, 4, seed=0))
    assert not np.array_equal(users, np.unique(sample_users(pairs, 4, seed=1)[0]))
