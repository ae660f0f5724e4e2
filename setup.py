"""rtt_jax: reasoning-trace training in JAX."""
from setuptools import find_packages, setup

# Lower bounds are the versions the test suite was run against. The libraries
# whose APIs rtt_jax leans on (NNX, optax transforms, orbax handlers, Grain
# datasets) are capped below their next minor release, which may break them.
JAX = "0.10.2"  # accelerator extras pin jax's own extras to this release line
INSTALL_REQUIRES = [
    f"jax>={JAX}",
    "flax>=0.12.8,<0.13",
    "optax>=0.2.8,<0.3",
    "orbax-checkpoint>=0.12.8,<0.13",
    "grain>=0.2.18,<0.3",
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
        # gcsfs + the emulator: tests/test_gcs_emulator.py runs gs:// workdirs on loopback;
        # httpx, fastapi, uvicorn: the OpenAI teacher against rtt_jax.serve on loopback;
        # openai: the official client against rtt_jax.serve (streaming, errors, API key).
        # nbconvert and friends: tests/test_notebooks.py executes notebooks/ in a fresh venv.
        # pytest < 9: pytest 9 keeps a node's id in Node._id, so pytest-xdist 3.8's
        # --dist=loadgroup (which renames Node._nodeid) silently stops grouping and
        # module fixtures are built once per worker instead of once.
        "test": ["pytest>=8.0,<9", "hypothesis>=6.100", "pytest-xdist>=3.5", "pytest-timeout>=2.4.0",
                 "gcsfs>=2026.10.1",
                 "gcp-storage-emulator>=2026.7.19", "httpx>=0.28.1", "fastapi>=0.165.0",
                 "uvicorn>=0.54.0", "openai>=3.63.0", "matplotlib>=3.8", "nbconvert>=7.17.2",
                 "nbclient>=0.11.0", "nbformat>=5.11.1", "ipykernel>=7.4.0",
                 # tests/test_notebooks.py builds our wheel with the test venv's
                 # setuptools (--no-build-isolation); bdist_wheel is built in since 70.1.
                 "setuptools>=84.2.1",
                 # .ci/run lints before the tests (rules in pyproject.toml); capped below
                 # the next minor release, whose rule changes could fail a clean tree.
                 "ruff>=0.17.6,<0.18"],
        # notebooks/ in Colab or locally, and `jupyter nbconvert --execute` on them. The
        # bounds are those Colab ships, so that installing there leaves Colab's own kernel
        # packages alone (the test extra holds the versions the suite runs); for a local
        # notebook UI add jupyterlab.
        "notebooks": ["matplotlib>=3.8", "nbconvert>=7.16", "nbclient>=0.10", "nbformat>=5.10",
                      "ipykernel>=6.17"],
        "plots": ["matplotlib>=3.8"],
        "gym": ["reasoning-gym>=0.1.25"],
        # pip install -e '.[tpu]' on a TPU VM: jax's matching jaxlib and libtpu.
        "tpu": [f"jax[tpu]>={JAX},<0.11"],
        # pip install -e '.[cuda12]' on an NVIDIA GPU machine (CUDA 12 wheels).
        "cuda12": [f"jax[cuda12]>={JAX},<0.11"],
        # gs:// workdirs and data paths (fsspec's Google Cloud Storage backend).
        "gcs": ["gcsfs>=2026.10.1"],
        # traces.build with teacher.kind="openai" (rtt_jax/traces/openai_teacher.py).
        "teacher": ["httpx>=0.28.1"],
        # python -m rtt_jax.serve: a checkpoint behind OpenAI-compatible endpoints.
        "serve": ["fastapi>=0.165.0", "uvicorn>=0.54.0"],
    },
)
