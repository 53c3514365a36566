"""The loss network: VGG feature extractors (vgg), their weights (weights, hed_weights) and memory estimates (memory)."""
