terraform {
  # strcontains: 1.5. No provider: the module only renders patterns.
  required_version = ">= 1.5.0"
}
