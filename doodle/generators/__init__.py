"""Feed-forward generators: the shared base (base), the texture network (texture), the encoder/residual/decoder network (resnet),
region normalization (region_norm, region_kernels) and the arch-name registry (registry)."""
