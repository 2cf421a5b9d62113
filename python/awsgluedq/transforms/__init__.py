"""``from awsgluedq.transforms import EvaluateDataQuality``."""

from awsgluedq.transforms.evaluate_data_quality import EvaluateDataQuality

__all__ = ["EvaluateDataQuality"]
