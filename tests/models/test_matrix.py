"""The rating matrix: duplicate policies, fixed id maps and weightings, on hand-made frames."""

import numpy as np
import pandas as pd
import pytest

from discerner.matrix import (
    apply_weighting,
    bm25_idf,
    bm25_weight,
    build_matrix,
    index_of,
    log_weight,
    weigh_values,
)
from discerner.schema import validate_interactions

FRAME = validate_interactions(
    pd.DataFrame(
        {
            "user_id": [7, 7, 3, 7],
            "product_id": [10, 10, 20, 20],
            "score": [3.0, 5.0, 1.0, 2.0],
            "timestamp": [200, 100, 150, 300],
        }
    )
)


@pytest.mark.parametrize(
    ("policy", "expected"), [("last", 3.0), ("sum", 8.0), ("max", 5.0), ("mean", 4.0)]
)
def test_duplicate_policies(policy, expected):
    built = build_matrix(FRAME, policy)
    assert list(built.user_ids) == [3, 7]
    assert list(built.product_ids) == [10, 20]
    np.testing.assert_array_equal(built.matrix.toarray(), [[0, 1], [expected, 2]])
    assert built.matrix.dtype == np.float32
    assert built.matrix.nnz == 3


def test_last_without_timestamps_takes_the_later_row():
    frame = FRAME.drop(columns="timestamp")
    assert build_matrix(frame, "last").matrix[1, 0] == 5.0


def test_fixed_maps_drop_unknown_ids():
    built = build_matrix(FRAME, "sum", product_ids=np.array([20, 30]))
    np.testing.assert_array_equal(built.matrix.toarray(), [[1, 0], [2, 0]])


def test_unknown_policy_rejected():
    with pytest.raises(ValueError, match="duplicates"):
        build_matrix(FRAME, "first")


def test_index_of():
    assert list(index_of(np.array([2, 5, 9]), [9, 1, 5, 10])) == [2, -1, 1, -1]
    assert list(index_of(np.array([], dtype=np.int64), [1])) == [-1]


def test_weightings():
    matrix = build_matrix(FRAME, "sum").matrix
    np.testing.assert_allclose(log_weight(matrix).toarray(), np.log1p([[0, 1], [8, 2]]))
    idf = bm25_idf(matrix)
    # 2 users; product 10 has 1 user -> log(2/2) = 0; product 20 has 2 -> log(2/3) clipped to 0.
    np.testing.assert_allclose(idf, [0.0, 0.0])
    weighted = bm25_weight(matrix, np.array([1.0, 2.0], dtype=np.float32), 1.5, k1=1.0, b=1.0)
    # User 3: one product, length norm 1/1.5; w = 1 * 2 / (1 + 2/3) * 2.
    np.testing.assert_allclose(weighted[0, 1], 2 / (1 + 2 / 3) * 2, rtol=1e-6)


def test_apply_weighting_by_name():
    matrix = build_matrix(FRAME, "sum").matrix
    assert apply_weighting(matrix, "none") is matrix
    np.testing.assert_array_equal(apply_weighting(matrix, "binary").toarray(), [[0, 1], [1, 1]])
    with pytest.raises(ValueError, match="weighting"):
        apply_weighting(matrix, "tfidf")


@pytest.mark.parametrize("weighting", ["none", "binary", "log", "bm25"])
def test_weigh_values_matches_the_matrix_weighting_of_one_row(weighting):
    matrix = build_matrix(FRAME, "sum").matrix
    idf = np.array([0.5, 2.0], dtype=np.float32)
    row = matrix[1]
    expected = apply_weighting(row, weighting, idf, 1.5).data
    got = weigh_values(row.data, row.indices, weighting, idf, 1.5)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
