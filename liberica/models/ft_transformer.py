"""A Feature Tokenizer + Transformer (FT-Transformer) for tabular features, exported to ONNX.

The network takes ONE float32 tensor ``(n, F)`` of raw features in the spec's
order (the ONNX contract of :mod:`liberica.models.spec`: one input, one output)
and splits it inside the graph:

- a continuous column whose value is NaN or a missing code (anything at or
  below :data:`MISSING_BELOW`; the ntuples write -999) is replaced by a learned
  per-feature value in the standardized space; the others are standardized
  with the training rows' mean and standard deviation of their non-missing
  values (constants of the graph), then tokenized as ``z * w_i + b_i``;
- a categorical column is mapped to an index by equality with the values seen
  in training (1, 2, ... in the order of :attr:`TabularEncoding.categories`);
  index 0 is "unknown": values never seen, NaN and missing codes. The index
  picks a row of the feature's embedding table, plus a per-feature bias.

A [CLS] token is prepended; ``n_blocks`` pre-norm blocks follow (LayerNorm ->
multi-head self-attention with dropout on the attention weights -> residual;
LayerNorm -> Linear -> GELU -> Dropout -> Linear -> residual), then a final
LayerNorm of the [CLS] token and a Linear layer to the class logits; the
exported graph ends in a softmax (thesis eq. 2.59-2.61, after Gorishniy et al.).

Written in torch rather than taken from ``rtdl_revisiting_models``: that package
installs and exports, but takes two inputs (standardized continuous values and
category indices) and handles neither missing values nor raw category values,
so the wrapper would be most of this module. The attention is written out
(matmul and softmax) so that the exported graph holds only elementary ONNX ops.
torch is needed here only; running the exported model needs onnxruntime alone.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from liberica.core.errors import LibericaError
from liberica.models.spec import FeatureSpec
from liberica.models.train import export_onnx

MISSING_CODE = -999.0
"""The ntuples' code for a value that does not exist (no second tau, no track)."""
MISSING_BELOW = -998.0
"""A value at or below this is a missing code (as is NaN)."""

PREPROCESSING = (
    "inside the graph: continuous features standardized with the training rows' mean and "
    f"std of their non-missing values, NaN or <= {MISSING_BELOW:g} replaced by a learned value "
    "per feature; categorical features mapped to embedding indices by the values seen in "
    "training (liberica.categorical; 0 = unknown or missing)"
)


class FTTransformerError(LibericaError, ValueError):
    """A feature encoding or network size that cannot be built (the message says which)."""


class TabularEncoding(NamedTuple):
    """The constants of the graph's input layer, fitted on training rows.

    Attributes:
        continuous: input column indices of the continuous features
        categorical: input column indices of the categorical features
        mean: per continuous feature, mean of its non-missing training values
        scale: per continuous feature, their standard deviation (1 where 0 or undefined)
        categories: per categorical feature, the values seen in training, in
            index order (value k has index k + 1)
    """

    continuous: tuple[int, ...]
    categorical: tuple[int, ...]
    mean: np.ndarray
    scale: np.ndarray
    categories: tuple[tuple[float, ...], ...]

    def categorical_values(self, feature_names: Sequence[str]) -> dict[str, tuple[float, ...]]:
        """Categorical feature name -> values seen, for :attr:`FeatureSpec.categorical`."""
        return {
            feature_names[column]: values
            for column, values in zip(self.categorical, self.categories, strict=True)
        }


def is_missing(values: np.ndarray) -> np.ndarray:
    """True where a value is NaN or a missing code (<= :data:`MISSING_BELOW`)."""
    values = np.asarray(values)
    return np.isnan(values) | (values <= MISSING_BELOW)


def fit_encoding(
    features: np.ndarray, feature_names: Sequence[str], categorical: Sequence[str] = ()
) -> TabularEncoding:
    """Standardization constants and category values of training rows ``(n, F)``.

    Raises:
        FTTransformerError: a categorical name that is not a feature, a width
            that differs from ``feature_names``, or an infinite value
    """
    features = np.asarray(features, dtype=np.float32)
    names = list(feature_names)
    if features.ndim != 2 or features.shape[1] != len(names):
        raise FTTransformerError(
            f"features of shape {features.shape}, expected (rows, {len(names)}) for {names}"
        )
    unknown = [name for name in categorical if name not in names]
    if unknown:
        raise FTTransformerError(f"categorical features {unknown} are not among the features")
    if np.isinf(features).any():
        columns = sorted({names[c] for c in np.flatnonzero(np.isinf(features).any(axis=0))})
        raise FTTransformerError(f"features {columns} hold infinite values")
    cat_columns = tuple(names.index(name) for name in categorical)
    cont_columns = tuple(c for c in range(len(names)) if c not in cat_columns)
    mean = np.zeros(len(cont_columns), dtype=np.float64)
    scale = np.ones(len(cont_columns), dtype=np.float64)
    for k, column in enumerate(cont_columns):
        values = features[:, column].astype(np.float64)
        present = values[~is_missing(values)]
        if present.size:
            mean[k] = present.mean()
            spread = present.std()
            scale[k] = spread if spread > 0 else 1.0
    categories = []
    for column in cat_columns:
        values = features[:, column]
        categories.append(tuple(float(v) for v in np.unique(values[~is_missing(values)])))
    return TabularEncoding(
        cont_columns,
        cat_columns,
        mean.astype(np.float32),
        scale.astype(np.float32),
        tuple(categories),
    )


class MissingAwareStandardizer(torch.nn.Module):
    """Continuous columns -> standardized values, missing ones replaced by learned values."""

    def __init__(self, encoding: TabularEncoding) -> None:
        super().__init__()
        self.register_buffer("columns", torch.as_tensor(encoding.continuous, dtype=torch.int64))
        self.register_buffer("mean", torch.as_tensor(encoding.mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(encoding.scale, dtype=torch.float32))
        self.missing_value = torch.nn.Parameter(torch.zeros(len(encoding.continuous)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = x.index_select(1, self.columns)
        missing = torch.isnan(values) | (values <= MISSING_BELOW)
        # missing entries are set to the mean first, so no NaN reaches any arithmetic
        present = torch.where(missing, self.mean, values)
        return torch.where(missing, self.missing_value, (present - self.mean) / self.scale)


class CategoryIndexer(torch.nn.Module):
    """Categorical columns -> rows of one shared embedding table (per-feature offsets).

    A value equal to the k-th value seen in training gets index k + 1 of its
    feature; any other value (unseen, NaN, a missing code) gets index 0.
    """

    def __init__(self, encoding: TabularEncoding) -> None:
        super().__init__()
        width = max([len(values) for values in encoding.categories] + [1])
        table = np.full((len(encoding.categories), width), np.nan, dtype=np.float32)
        for k, values in enumerate(encoding.categories):
            table[k, : len(values)] = values
        sizes = [len(values) + 1 for values in encoding.categories]
        self.size = int(sum(sizes))
        self.register_buffer("columns", torch.as_tensor(encoding.categorical, dtype=torch.int64))
        self.register_buffer("values", torch.as_tensor(table))
        self.register_buffer("rank", torch.arange(1, width + 1, dtype=torch.int64))
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.register_buffer("offsets", torch.as_tensor(offsets))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = x.index_select(1, self.columns).unsqueeze(-1)
        matches = (values == self.values).to(torch.int64)  # NaN padding never matches
        return (matches * self.rank).sum(dim=-1) + self.offsets


class FeatureTokenizer(torch.nn.Module):
    """Raw features ``(n, F)`` -> tokens ``(n, F, d_token)`` (continuous first, then categorical)."""

    def __init__(self, encoding: TabularEncoding, d_token: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_token)
        n_cont, n_cat = len(encoding.continuous), len(encoding.categorical)
        self.n_categorical = n_cat
        self.standardizer = MissingAwareStandardizer(encoding)
        self.weight = torch.nn.Parameter(torch.empty(n_cont, d_token).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.empty(n_cont, d_token).uniform_(-bound, bound))
        self.indexer = CategoryIndexer(encoding)
        self.embedding = torch.nn.Embedding(self.indexer.size, d_token)
        torch.nn.init.uniform_(self.embedding.weight, -bound, bound)
        self.category_bias = torch.nn.Parameter(torch.empty(n_cat, d_token).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.standardizer(x).unsqueeze(-1) * self.weight + self.bias
        if self.n_categorical:
            categories = self.embedding(self.indexer(x)) + self.category_bias
            tokens = torch.cat([tokens, categories], dim=1)
        return tokens


class _SelfAttention(torch.nn.Module):
    def __init__(self, d_token: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(d_token, 3 * d_token)
        self.out = torch.nn.Linear(d_token, d_token)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, tokens, d_token = x.shape
        d_head = d_token // self.heads
        q, k, v = (
            part.reshape(n, tokens, self.heads, d_head).transpose(1, 2)
            for part in self.qkv(x).chunk(3, dim=-1)
        )
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d_head), dim=-1)
        mixed = self.dropout(weights) @ v
        return self.out(mixed.transpose(1, 2).reshape(n, tokens, d_token))


class _Block(torch.nn.Module):
    def __init__(self, d_token: int, heads: int, dropout: float, d_hidden: int) -> None:
        super().__init__()
        self.attention_norm = torch.nn.LayerNorm(d_token)
        self.attention = _SelfAttention(d_token, heads, dropout)
        self.ffn_norm = torch.nn.LayerNorm(d_token)
        self.ffn = torch.nn.Sequential(
            torch.nn.Linear(d_token, d_hidden),
            torch.nn.GELU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(d_hidden, d_token),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.ffn(self.ffn_norm(x))


class FTTransformer(torch.nn.Module):
    """The FT-Transformer: ``logits(x)`` for training, ``forward(x)`` the softmax probabilities.

    Build it with :func:`build_ft_transformer`.
    """

    def __init__(
        self,
        encoding: TabularEncoding,
        n_classes: int,
        d_token: int,
        n_blocks: int,
        heads: int,
        dropout: float,
        ffn_factor: float,
    ) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_token)
        self.tokenizer = FeatureTokenizer(encoding, d_token)
        self.cls = torch.nn.Parameter(torch.empty(1, 1, d_token).uniform_(-bound, bound))
        d_hidden = max(1, int(round(ffn_factor * d_token)))
        self.blocks = torch.nn.Sequential(
            *(_Block(d_token, heads, dropout, d_hidden) for _ in range(n_blocks))
        )
        self.norm = torch.nn.LayerNorm(d_token)
        self.head = torch.nn.Linear(d_token, n_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.tokenizer(x)
        cls = self.cls.expand(tokens.shape[0], -1, -1)
        hidden = self.blocks(torch.cat([cls, tokens], dim=1))
        return self.head(self.norm(hidden[:, 0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=-1)


def build_ft_transformer(
    encoding: TabularEncoding,
    n_classes: int,
    *,
    d_token: int = 64,
    n_blocks: int = 3,
    heads: int = 4,
    dropout: float = 0.2,
    ffn_factor: float = 2.0,
) -> FTTransformer:
    """An untrained FT-Transformer (initialized from torch's current random state).

    Args:
        encoding: the input layer's constants (:func:`fit_encoding`)
        n_classes: width of the output (at least 2: it ends in a softmax)
        d_token: token size (a multiple of ``heads``)
        n_blocks: transformer blocks
        heads: attention heads
        dropout: on the attention weights and the feed-forward hidden layer
        ffn_factor: feed-forward hidden width over ``d_token``

    Raises:
        FTTransformerError: naming the size that cannot be built
    """
    if n_classes < 2:
        raise FTTransformerError(f"a softmax classifier needs at least 2 classes, got {n_classes}")
    if heads < 1 or d_token < 1 or d_token % heads:
        raise FTTransformerError(f"d_token {d_token} is not a positive multiple of heads {heads}")
    if n_blocks < 1:
        raise FTTransformerError(f"n_blocks must be at least 1, got {n_blocks}")
    if not 0 <= dropout < 1:
        raise FTTransformerError(f"dropout must lie in [0, 1), got {dropout}")
    return FTTransformer(encoding, n_classes, d_token, n_blocks, heads, dropout, ffn_factor)


def export(
    model: torch.nn.Module,
    spec: FeatureSpec,
    path: pathlib.Path,
    check_rows: np.ndarray,
    title: str = "liberica FT-Transformer",
) -> float:
    """Export ``model`` (eval mode) to one self-contained ONNX file with ``spec`` in its metadata.

    The opset and the exporter are train.py's (:func:`~liberica.models.train.export_onnx`).

    Returns:
        the largest |ONNX - torch| over ``check_rows``

    Raises:
        RuntimeError: if it exceeds :data:`~liberica.models.train.EXPORT_TOLERANCE`
    """
    model.eval()
    rows = np.ascontiguousarray(check_rows, dtype=np.float32)
    return export_onnx(model, spec, path, rows, title)
