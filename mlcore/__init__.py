"""Experiments around the calculators: bias-variance, ROC / PR / PRG curves, learning-rate studies."""
