package importers

// TCRate exposes tcRate to the specs.
var TCRate = tcRate
