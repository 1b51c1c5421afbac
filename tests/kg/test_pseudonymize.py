"""kgrec.kg.pseudonymize: user ids replaced by a keyed hash before anything is stored."""
from __future__ import annotations

import pandas as pd
import pytest

from kgrec.kg.catalog import Catalog
from kgrec.kg.errors import KgrecError
from kgrec.kg.pseudonymize import PREFIX, pseudonym, pseudonymize_users

KEY = "a-key-of-twenty-chars"


def test_a_pseudonym_is_stable_per_key_and_differs_between_keys() -> None:
    assert pseudonym("42", KEY) == pseudonym(" 42 ", KEY)
    assert pseudonym("42", KEY) != pseudonym("43", KEY)
    assert pseudonym("42", KEY) != pseudonym("42", KEY + "x")
    assert pseudonym("42", KEY).startswith(PREFIX) and len(pseudonym("42", KEY)) == len(PREFIX) + 24


def test_users_and_interactions_get_the_same_pseudonyms_and_blank_ids_stay_blank() -> None:
    catalog = Catalog(users=pd.DataFrame({"user_id": ["42", ""], "gender": ["f", "m"]}),
                      interactions=pd.DataFrame({"user_id": ["42", None], "item_id": ["a", "b"], "rating": [1.0, 2.0], "timestamp": [0.0, 0.0]}))
    hidden = pseudonymize_users(catalog, KEY)
    assert hidden.users["user_id"].tolist() == [pseudonym("42", KEY), ""]
    assert hidden.interactions["user_id"].tolist() == [pseudonym("42", KEY), ""]
    assert catalog.users["user_id"].tolist() == ["42", ""], "the input catalog is left as it was"


@pytest.mark.parametrize("key, message", [(None, "needs a secret key in KGREC_PSEUDONYM_KEY"), ("short", "has 5 character")])
def test_a_missing_or_short_key_is_refused(key: str | None, message: str) -> None:
    with pytest.raises(KgrecError, match=message):
        pseudonymize_users(Catalog(), key)
