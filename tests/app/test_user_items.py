"""Each user's positions: the CSR from the export, the changed users over it."""
import numpy as np

from kgrec.app.user_items import EMPTY, UserItems


def test_lists_come_from_pairs_in_pair_order_and_changes_leave_the_old_lists_alone() -> None:
    pairs = np.array([[2, 0, 2, 0, 3], [7, 5, 1, 9, 4]])
    lists = UserItems.from_pairs(pairs, n_users=5)
    assert [lists[u].tolist() for u in range(5)] == [[5, 9], [], [7, 1], [4], []]
    assert lists.get(9) is EMPTY and lists.get(-1, default=np.array([8])).tolist() == [8]
    changed = lists.with_changes({1: np.array([3]), 6: np.array([2, 4])})
    assert changed[1].tolist() == [3] and changed[6].tolist() == [2, 4] and changed[0].tolist() == [5, 9]
    assert lists[1].size == 0 and lists.get(6) is EMPTY, "the earlier lists are unchanged"
    again = changed.with_changes({1: np.array([3, 8])})
    assert again[1].tolist() == [3, 8] and again[6].tolist() == [2, 4] and changed[1].tolist() == [3]
    assert again.values is lists.values, "the build's arrays are shared, not copied"
