# Access to models that each carry their own grants, in Rego, for the benchmark:
# data.invokers maps each of 1,000 models to the principals it grants.
package charter.invoke

import rego.v1

default allow := false

allow if input.principal in data.invokers[input.model]
