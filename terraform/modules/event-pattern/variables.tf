variable "tags" {
  description = "Unused: this module creates nothing. Present so that every module takes the same tags input."
  type        = map(string)
  default     = {}
}
