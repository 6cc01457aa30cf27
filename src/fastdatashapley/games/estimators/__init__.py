"""Shapley estimators over a batched utility, one module each; :mod:`fastdatashapley.games` re-exports them."""
