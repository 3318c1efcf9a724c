"""The pyfunc model as code: MLflow logs this file instead of pickling an object.

`mlflow.pyfunc.log_model(python_model=<this file>)` copies it into the model; loading runs it,
and `set_model` names the model to serve (MLflow's "models from code"). Nothing is unpickled.
"""

from mlflow.models import set_model

from discerner.tracking.pyfunc import RecommenderModel

set_model(RecommenderModel())
