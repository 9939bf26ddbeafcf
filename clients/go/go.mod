module racelab/clients/go

go 1.19
