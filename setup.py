"""rtt_jax: reasoning-trace training in JAX."""
from setuptools import find_packages, setup

# Lower bounds are the versions the test suite was run against.
INSTALL_REQUIRES = [
    "jax>=0.10.2",
    "flax>=0.12.8",
    "optax>=0.2.8",
    "orbax-checkpoint>=0.12.8",
    "grain>=0.2.18",
    "tensorflow-datasets>=4.9.10",
    "array-record>=0.8.6",
    "ml-collections>=1.1.0",
    "absl-py>=2.5.1",
    "tensorboardX>=2.6.5",
    "numpy>=2.0",
    "datasketch>=2.0.0",
    "sentencepiece>=0.2.3",
]

setup(
    name="rtt_jax",
    version="0.1.0",
    description="Reasoning-trace training: small LMs taught by step-by-step traces, in JAX.",
    packages=find_packages(include=["rtt_jax", "rtt_jax.*"]),
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=8.0", "hypothesis>=6.100", "pytest-xdist>=3.5"],
        "notebooks": ["jupyter>=1.0", "matplotlib>=3.8"],
        "plots": ["matplotlib>=3.8"],
        "gym": ["reasoning-gym>=0.1.25"],
    },
)
