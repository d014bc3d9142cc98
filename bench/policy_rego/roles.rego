# The default bundle's role baseline in Rego, for the benchmark: a principal may perform
# an action when one of its roles grants it (data.roles: role -> actions).
package charter.access

import rego.v1

default allow := false

allow if {
	some role in input.principal.roles
	input.action in data.roles[role]
}
