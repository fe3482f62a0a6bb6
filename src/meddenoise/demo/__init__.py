"""The demo page (an application, above the pipeline): ``meddenoise demo`` / ``make demo``."""

from meddenoise.demo.page import DEMO_NOISE, DEMO_SAMPLES, DEMO_SIZE, DemoResult, demo_denoisers, run_demo

__all__ = ["DEMO_NOISE", "DEMO_SAMPLES", "DEMO_SIZE", "DemoResult", "demo_denoisers", "run_demo"]
