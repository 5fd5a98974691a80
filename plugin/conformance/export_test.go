package conformance

// CheckConfig is Run's validation of a Config, for the tests.
func CheckConfig(c Config) error {
	_, err := c.withDefaults()
	return err
}
