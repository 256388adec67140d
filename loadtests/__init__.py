"""Load tests and benchmarks. Each script prints its figures; none is a unit test."""
