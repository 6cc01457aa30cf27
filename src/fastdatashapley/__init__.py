"""fastdatashapley: per-prediction training data valuation (Fast-DataShapley)."""

__version__ = "0.1.0"
